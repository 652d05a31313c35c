"""The policy language front end: source text -> Lark tree -> ast.Program."""
