"""The dashboard query of issue 3, shared by its tests and its benchmark."""

DASHBOARD = """
query Dashboard($first: Int!) {
  customers(first: $first) {
    totalCount
    edges {
      node {
        id name email company brand lifecycleStage
        leads { id status name createdAt }
        tickets(status: [NEW, OPEN, PENDING], first: 5) {
          id subject status priority updatedAt
          requester { id name }
        }
        playerStats {
          level levelName pointsBalance lastLoginAt
          depositsTotal { amount currency }
          ggr { amount currency }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
