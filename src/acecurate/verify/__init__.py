"""Graders shared by curation and training: one code path, so a curation verdict is exactly the training reward."""
