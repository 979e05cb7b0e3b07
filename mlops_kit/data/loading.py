"""Reading a version back: downloaded (Arrow, pandas) or kept in the warehouse (ibis, SQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from mlops_kit.data.versions import get_version, stored_table
from mlops_kit.errors import ConfigError

if TYPE_CHECKING:
    from mlops_kit.data.refs import DatasetRef
    from mlops_kit.kit import Kit

LoadFormat = Literal["arrow", "pandas", "ibis", "sql"]


def load(kit: Kit, ref: DatasetRef | str, as_: LoadFormat = "arrow") -> Any:
    """Read version ``ref`` back.

    Args:
        kit: the environment.
        ref: the version.
        as_: ``arrow`` (a ``pyarrow.Table``) or ``pandas`` (a DataFrame) download the data — for
            small data; ``ibis`` returns the warehouse relation (build expressions, run them with
            ``kit.warehouse.execute``) and ``sql`` a ``SELECT`` reading only that version — for
            data that must stay in the warehouse.

    Raises:
        ConfigError: unknown ``as_``.
        NotFoundError: unknown dataset or version.
    """
    version = get_version(kit, ref)
    relation = stored_table(kit, version)
    if as_ == "ibis":
        return relation
    if as_ == "sql":
        return kit.warehouse.compile(relation)
    if as_ not in ("arrow", "pandas"):
        raise ConfigError(f"unknown load format {as_!r}: use arrow, pandas, ibis or sql")
    data = kit.warehouse.execute(relation)
    return data.to_pandas() if as_ == "pandas" else data
