"""A sample monorepo: three Python packages and two npm packages, some depending on others.

Used by the release plugin's tests and the end-to-end test of the `monorepo-release` template, so both
release the same repository:

```
py/core   shop-core     1.2.0                      (no in-repo dependency)
py/utils  shop-utils    0.3.1   shop-core>=1.2.0
py/api    shop-api      2.0.0   Shop_Utils>=0.3.1,<1 and shop-core==1.2.0 (PEP 503 names)
js/ui-kit @shop/ui-kit  0.9.0
js/web    @shop/web     1.0.0   @shop/ui-kit ^0.9.0 (dependencies), ~0.9.0 (peerDependencies)
```

The root `pyproject.toml` and `package.json` are workspace manifests (no package of their own).
`TAGS` are the packages' last releases; tag them on the first commit.
"""

from __future__ import annotations

FILES: dict[str, str] = {
    "pyproject.toml": '[tool.uv.workspace]\nmembers = ["py/*"]\n',
    "package.json": '{\n  "name": "shop-monorepo",\n  "private": true,\n  "workspaces": ["js/*"]\n}\n',
    "README.md": "# shop monorepo\n",
    "py/core/pyproject.toml": '[project]\nname = "shop-core"\nversion = "1.2.0"\ndependencies = []\n',
    "py/core/src/shop_core/__init__.py": '__version__ = "1.2.0"\n',
    "py/utils/pyproject.toml": (
        '[project]\nname = "shop-utils"\nversion = "0.3.1"\n'
        'dependencies = [\n    "shop-core>=1.2.0",  # in the repo\n    "requests>=2.31",\n]\n'
    ),
    "py/api/pyproject.toml": (
        '[project]\nname = "shop-api"\nversion = "2.0.0"\n'
        "dependencies = ['Shop_Utils>=0.3.1,<1', \"shop-core[fast]==1.2.0; python_version >= '3.11'\"]\n"
    ),
    "py/api/CHANGELOG.md": (
        "# Changelog\n\n## [Unreleased]\n\n## [2.0.0] - 2024-05-01\n\n### Added\n\n- The API\n"
    ),
    "js/ui-kit/package.json": '{\n  "name": "@shop/ui-kit",\n  "version": "0.9.0",\n  "license": "MIT"\n}\n',
    "js/web/package.json": (
        '{\n  "name": "@shop/web",\n  "version": "1.0.0",\n  "dependencies": {\n    "@shop/ui-kit": "^0.9.0",\n'
        '    "react": "^18.2.0"\n  },\n  "peerDependencies": {\n    "@shop/ui-kit": "~0.9.0"\n  }\n}\n'
    ),
}

TAGS = ["shop-core@1.2.0", "shop-utils@0.3.1", "shop-api@2.0.0", "@shop/ui-kit@0.9.0", "@shop/web@1.0.0"]

ORDER = ["@shop/ui-kit", "@shop/web", "shop-core", "shop-utils", "shop-api"]
"""The dependency order `release/packages` gives (dependencies first, ties by path)."""
