"""Entry points of the front end (see compiler/front.py)."""
from pol.compiler.front import check_path, compile_path, compile_text, dependency_graph

__all__ = ["compile_path", "compile_text", "check_path", "dependency_graph"]
