"""Which files of a workdir go to the VM (#27): everything except `.git/` and what a
`.gitignore` or `.provisionerignore` excludes, read as git reads them.

One function for every upload: `run --workdir` (rsync or sftp) and a pool job's workdir
(`submit --workdir`, the REST API's tar.gz). Matching is `pathspec`'s GitIgnoreSpec (git's own
wildmatch rules, negation with `!`, `dir/` for folders only, `/x` anchored to the ignore file's
folder); a `.gitignore` or `.provisionerignore` in a subfolder applies below it, the deeper file
deciding as git's does. An excluded folder is not entered, so a `!` pattern cannot bring back a
file inside it (git behaves the same). `.provisionerignore` is read after `.gitignore` in the
same folder: it can also re-include (`!data/small.csv`) what git ignores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pathspec

IGNORE_FILES = (".gitignore", ".provisionerignore")
NEVER = ".git"  # the repository itself (a folder, or a file in a worktree/submodule)


@dataclass(frozen=True)
class _Rules:
    base: str  # the folder holding the ignore files, relative to the root ("" for the root)
    spec: pathspec.GitIgnoreSpec


def _rules_in(folder: Path, base: str) -> _Rules | None:
    lines: list[str] = []
    for name in IGNORE_FILES:
        path = folder / name
        if path.is_file():
            lines += path.read_text(errors="replace").splitlines()
    if not lines:
        return None
    return _Rules(base, pathspec.GitIgnoreSpec.from_lines(lines))


def _ignored(rel: str, is_dir: bool, rules: list[_Rules]) -> bool:
    """The deepest ignore file with an opinion decides; within one, its last matching line."""
    for rule in reversed(rules):
        inner = rel[len(rule.base) + 1 :] if rule.base else rel
        result = rule.spec.check_file(inner + "/" if is_dir else inner)
        if result.include is not None:
            return bool(result.include)
    return False


def workdir_files(root: Path) -> list[str]:
    """The files and folders (relative POSIX paths, sorted, folders before what they hold) to
    copy from `root`. Symbolic links are listed as themselves, never followed."""
    kept: list[str] = []
    stack: list[_Rules] = []

    def walk(folder: Path, rel: str) -> None:
        own = _rules_in(folder, rel)
        if own is not None:
            stack.append(own)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            for entry in entries:
                if entry.name == NEVER:
                    continue
                child = f"{rel}/{entry.name}" if rel else entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if _ignored(child, is_dir, stack):
                    continue
                kept.append(child)
                if is_dir:
                    walk(Path(entry.path), child)
        finally:
            if own is not None:
                stack.pop()

    walk(root, "")
    return kept
