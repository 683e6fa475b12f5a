"""The stages of a study, one module each: ``supports(system, config)`` and ``run(ctx) -> summary``.

Each stage is a thin layer over the Python API: it reads the :class:`~incipient.system.System`
and the study settings from its context, calls the library, writes its files into its folder
and returns a JSON-able summary (``figures``, ``comparisons`` rows for the "this run vs
reference" table, ``text``, and the numbers dependants need). ``supports`` returns the one-line
reason a system cannot run the stage (checked before any MD starts), or None.
"""
