"""Techniques that change what an inference step costs, each in one module.

A technique's user setting is declared once in `rooflens.settings` and mapped onto
`AnalysisOptions`; its behaviour lives only in its module here: the graph pass that marks,
adds or replaces operators (`apply`, run by `rooflens.core.graph.build_graph` in the order of
`GRAPH_PASSES` there) and the pricing rule that turns its marks into costs, each formula with
its source. Nothing is imported here, so `options` and `operators` may use these modules.
"""
