"""research/slim's programs on slimir's public API, and the `slimir` command (the top layer: above the runtime).

flags: the jobs' flags (one table: dataclasses the command line is generated from); image_classifier: the
train / eval / export jobs and the demo; cli: the `slimir` command.
"""
