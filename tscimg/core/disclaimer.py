"""The research-use statement printed in the README, the CLI and every report."""

#: Printed in the README, the CLI and every report.
RESEARCH_USE_DISCLAIMER = (
    "Research software, not a medical device: tscimg's measurements are not validated "
    "for diagnosis or treatment decisions."
)
