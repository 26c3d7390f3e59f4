"""What VWMP's built-in plugins share, so that no plugin imports another.

Every module is public; import from it directly:

- `vwmp_toolkit.git`: `SafeGit` and `open_git(ctx, repo)`: git through `ctx.run` with argument lists,
  hardening options, no hooks, the protocol allow-list, never a repository above the step's folder.
- `vwmp_toolkit.refs`: checks for names that reach git's command line (`git check-ref-format` rules,
  nothing starting with `-`, remote URL allow-list).
- `vwmp_toolkit.paths`: `repo_dir(ctx, repo)` and `in_repo(root, path)` on top of
  `vwmp_sdk.resolve_in_workspace` (no `..`, no absolute path, no symlink escape, never into `.git`).
- `vwmp_toolkit.files`: `read_text`, `write_atomic` and `plan_edit` (a file change as a plan item).
- `vwmp_toolkit.semver`: SemVer 2.0 `Version` (parse, order, bump) and `checked_version`.
- `vwmp_toolkit.version_files`: the version in pyproject.toml, package.json, VERSION or `__version__`.
- `vwmp_toolkit.changelog`: Keep a Changelog documents, cutting a release, `release_date`.
"""
