"""The stages of a study, one module each: ``supports(system, config)`` and ``run(ctx) -> summary``.

Each stage is a thin layer over the Python API: it reads the :class:`~incipient.system.System`
and the study settings from its context, calls the library, writes its files into its folder
and returns its typed summary (:mod:`incipient.workflows.summaries`: ``figures``,
``comparisons`` rows for the "this run vs reference" table, ``text``, and the numbers
dependants need, read as attributes: ``ctx.inputs["md"].runs``). ``supports`` returns the
one-line reason a system cannot run the stage (checked before any MD starts), or None.

A stage's cache key holds the digest of its file (:func:`incipient.workflows.graph.code_digest`),
so an edited stage reruns. ``SAME_RESULTS`` maps the digest of a stage file as it is now to the
digests of the earlier versions that give the same results (a refactor), whose finished stages
are reused; an entry applies only to that exact file, so any later edit drops it.
"""

# digest of the file now -> digests of earlier versions with the same results
SAME_RESULTS: dict[str, tuple[str, ...]] = {
    # typed summaries (incipient.workflows.summaries) instead of dicts: same numbers, same done.json
    "ea37be83bc0a6125": ("c3d44390ee2113d0",),  # relax.py
    "5898663deaa21e02": ("bfb3535c34ea8dd6",),  # md.py
    "c5667be37e4bd3ee": ("2a7627972fe937e5",),  # migration.py
    "d7a5a674cc340b21": ("d94b217701541af9",),  # barriers.py
    "28848e26377acdaf": ("5c416e4f903aed72",),  # force_constants.py
    "4a36639b5bc74eb3": ("93472a784ce340a2",),  # kappa_bte.py
    "a46465f9e421fc9c": ("8ab9097b05e53056",),  # kappa_gk.py
    "2fab6620c4340ce3": ("b624a85578851110",),  # mem.py
    "4862937529e8b402": ("bd46d0c2f0b3f59c",),  # classify.py
    # spectra.py: shared caption and file-tag helpers (same figures, same captions)
    "158b92a482ebc2ae": ("8ea28eea40201d3d",),  # spectra.py
}
