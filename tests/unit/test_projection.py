from graphql import parse

from schema import schema
from schema.projection import select


def domain(query: str, entity: str, operation: str | None = None) -> set[str]:
    selection = select(schema._schema, parse(query), operation)
    return set(selection.domain_fields(entity))


def test_plain_fields_map_to_their_domain_names() -> None:
    query = "{ customers { edges { node { email lifecycleStage createdAt } } } }"
    assert domain(query, "customer") == {"email", "lifecycle_stage", "created_at"}


def test_derived_and_relation_fields_ask_for_what_they_need() -> None:
    query = '{ customer(id: "hubspot:1") { name leads { id } playerStats { ggr { amount } } } }'
    assert domain(query, "customer") == {"first_name", "last_name", "email", "player_id", "brand"}
    assert domain(query, "player") == {"bets_total", "wins_total"}
    assert domain(query, "lead") == set()


def test_fragments_and_nested_types_are_counted() -> None:
    query = """
      query Q { ticket(id: "zendesk:1") { ...T requester { ...C } } }
      fragment T on Ticket { subject status }
      fragment C on Customer { phone }
    """
    assert domain(query, "ticket") == {"subject", "status", "requester_id"}
    assert domain(query, "customer") == {"phone"}


def test_only_the_operation_being_run_is_counted() -> None:
    query = """
      query A { customer(id: "hubspot:1") { email } }
      query B { customer(id: "hubspot:1") { phone } }
    """
    assert domain(query, "customer", "B") == {"phone"}


def test_a_document_is_walked_once_per_operation_it_runs() -> None:
    document = parse("""
      query A { customer(id: "hubspot:1") { email } }
      query B { customer(id: "hubspot:1") { phone } }
    """)
    a = select(schema._schema, document, "A")

    assert select(schema._schema, document, "A") is a  # the same document: not walked again
    assert select(schema._schema, document, "B").domain_fields("customer") == {"phone"}
    # Another document is walked for itself.
    again = parse('query A { customer(id: "hubspot:1") { phone } }')
    assert set(select(schema._schema, again, "A").domain_fields("customer")) == {"phone"}
