"""``hoist lint``: rules over image references and pull policy, with reporters."""

from hoist.lint.engine import Finding, LintOptions, document_wanted, has_errors, lint
from hoist.lint.rules import RULES, Rule, Severity

__all__ = ["RULES", "Finding", "LintOptions", "Rule", "Severity", "document_wanted",
           "has_errors", "lint"]
