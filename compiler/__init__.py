"""The policy compiler: ast.Program -> checked ir.Program -> kernel."""
