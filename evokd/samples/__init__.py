"""Helpers for samples shared by the agent roles and the graph: span alignment to IOB2 tags
(``align``), the critic's rule checks (``rules``), drop records (``drops``), checks on
generated texts (``texts``) and the typed records a round passes along (``records``)."""
