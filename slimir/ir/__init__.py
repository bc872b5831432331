"""The IR: graph, op registry (with dispatch hooks), reference interpreter, analyses and autodiff.

Nothing here knows an op by name: the op families in slimir.ops register themselves, and the passes,
the runtime and autodiff read what they need from each op's OpDef.
"""
