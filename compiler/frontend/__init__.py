"""The front end: policy text -> checked ir.Program (compiler/frontend/driver.py
runs the stages: dsl/ parses, resolve.py, check.py and expressions.py)."""
from pol.compiler.frontend.driver import Frontend, check_path, check_text, compile_path, compile_text, dependency_graph

__all__ = ["compile_path", "compile_text", "check_path", "check_text", "dependency_graph", "Frontend"]
