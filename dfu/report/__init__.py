"""The report of a run: ``report.html`` and ``summary.json`` (``write``), from what a run
directory holds (``data``), the numbers (``stats``), the page's sections (``sections``,
``selection``, ``baselines``, ``training``, ``context``), figures (``plots``) and HTML building
blocks (``html``)."""

from dfu.report.write import write_report

__all__ = ["write_report"]
