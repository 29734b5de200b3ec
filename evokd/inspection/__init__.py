"""Run inspection: reading a run directory back and showing it (``trace``, ``view``,
``report``). Nothing here runs the loop; the loop (``graph``) only calls ``report`` when a run
ends."""
