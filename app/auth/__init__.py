"""Who may call crmgraph, and what each caller may see."""
