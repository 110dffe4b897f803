"""The hub's tables (SQLAlchemy Core; the migrations in `hub/migrations` create the same).

Shape of the findings data:
- `findings`: one row per (ProductArn, Id) with the full ASFF document in `doc` and one column
  per single-valued filter/sort key. `pk` is assigned by the importer under the hub's write lock
  (max + 1), which lets side-table rows be written in the same executemany pass without a
  RETURNING round trip.
- `finding_types`, `finding_resources`, `finding_map`: the multi-valued keys (Types, Resources,
  ProductFields / UserDefinedFields / ResourceTags), so filters on them are index lookups. Map
  values keep their first 256 characters in the indexed `v` and the whole value in `full` only
  when longer: PostgreSQL cannot index a 2 KB ProductFields value.
- SeverityLabel is indexed through `severity_rank` (0-4): the same filter, and the index also
  serves sorting by severity.
- String columns use the "C" collation on PostgreSQL so ordering and prefix ranges are the
  same code-point order SQLite's BINARY uses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import cast, exc, util
from sqlalchemy.types import TypeEngine, UserDefinedType

metadata = MetaData()

# Filter/sort columns with an index each. The index ends with pk, the keyset tie-breaker, so
# "ORDER BY col, pk LIMIT n" reads n entries in order on PostgreSQL too (SQLite appends the
# rowid to every index anyway).
SORT_INDEXED = ("product_name", "generator_id", "title", "severity_rank", "severity_normalized",
                "workflow_status", "record_state", "created_at", "updated_at",
                "first_observed_at", "last_observed_at")

MAP_VALUE_INDEXED = 256
NARROW = ("severity_rank", "workflow_status", "record_state", "severity_normalized", "updated_at")
PARTITION = ("hub_account", "hub_region")   # migration 0008: every findings query names both
# migration 0012_query_idx: (col, pk, the other NARROW columns, the partition) instead of
# (col, pk) for the default sort (UpdatedAt) and SeverityLabel: a page that scans the sort
# key's index tests SeverityLabel / Workflow / RecordState / SeverityNormalized / UpdatedAt /
# GeneratorId filters and the partition in the index entry (SQLite's deferred seek, PostgreSQL's
# index-only scan) and the side tables by pk, so at 1M findings a page costs ~100 row reads
# instead of one per candidate. Same prefix (col, pk): every use of the old index still fits.
COVERED = {col: (*(c for c in NARROW if c != col), "generator_id", *PARTITION)
           for col in ("updated_at", "severity_rank")}
# The side tables' lookup indexes carry finding_pk on PostgreSQL (migration 0005), so
# "pk IN (SELECT finding_pk ... WHERE value ...)" is an index-only scan there; SQLite's
# WITHOUT ROWID indexes hold the primary key (and so finding_pk) anyway.
PK_INCLUDED = {"include": ["finding_pk"]}


def pg_options(index: Index, **options: Any) -> Index:
    """`index` with `postgresql_<name>` options, without importing the PostgreSQL dialect now.

    SQLAlchemy checks dialect keywords by loading the dialect's package (with its asyncpg and
    psycopg modules, ~35 ms) the moment a construct is made, so every SQLite hub paid for it
    at start-up. Here the options are checked, exactly as SQLAlchemy checks them, the first
    time anything reads them (the PostgreSQL DDL compiler, alembic's comparison); a PostgreSQL
    engine reads them all at once when it is created (`load_pg_options`)."""
    def make(dialect: str):
        found = index._kw_reg_for_dialect_cls(dialect)
        if dialect == "postgresql":
            for name, value in options.items():
                if "*" not in found and name not in found:
                    raise exc.ArgumentError(f"Argument 'postgresql_{name}' is not accepted "
                                            f"by dialect 'postgresql' on behalf of {Index}")
                found[name] = value
        return found

    index.__dict__["dialect_options"] = util.PopulateDict(make)
    _PG_OPTIONED.append(index)
    return index


_PG_OPTIONED: list[Index] = []


def load_pg_options() -> None:
    """Check and attach every `pg_options` index's options (a PostgreSQL hub's engine)."""
    for index in _PG_OPTIONED:
        index.dialect_options["postgresql"]


class _Jsonb(UserDefinedType):
    """PostgreSQL's JSONB by name, for the GIN index's expression (no dialect import)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "JSONB"


# On SQLite only a column declared exactly INTEGER PRIMARY KEY is the rowid; BIGINT would get
# a separate unique index and every lookup by pk a second B-tree descent.
PK_TYPE = BigInteger().with_variant(Integer(), "sqlite")


def Str(length: int) -> TypeEngine:
    """A string column compared in code-point order on both dialects."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


findings = Table(
    "findings", metadata,
    Column("pk", PK_TYPE, primary_key=True, autoincrement=False),
    Column("product_arn", Str(256), nullable=False),
    Column("id", Str(512), nullable=False),
    Column("product_name", Str(128), nullable=False),
    Column("company_name", Str(128), nullable=False),
    Column("generator_id", Str(512), nullable=False),
    Column("aws_account_id", Str(16), nullable=False),
    Column("region", Str(32), nullable=False),
    Column("title", Str(256), nullable=False),
    Column("description", Text, nullable=False),
    Column("severity_label", Str(16), nullable=False),
    Column("severity_rank", SmallInteger, nullable=False),
    Column("severity_normalized", Integer, nullable=False),
    Column("confidence", Integer),
    Column("criticality", Integer),
    Column("workflow_status", Str(16), nullable=False),
    Column("record_state", Str(16), nullable=False),
    Column("verification_state", Str(32)),
    Column("compliance_status", Str(16)),
    Column("created_at", Str(32), nullable=False),
    Column("updated_at", Str(32), nullable=False),
    Column("first_observed_at", Str(32)),
    Column("last_observed_at", Str(32)),
    Column("resource_type", Str(256), nullable=False),   # first resource, for sorting
    Column("resource_id", Str(512), nullable=False),
    Column("sample", Boolean, nullable=False),
    Column("locked", Str(128), nullable=False),          # fields a customer took over
    Column("processed_at", Str(32), nullable=False),
    Column("doc", Text, nullable=False),
    # migration 0005: digest of the provider's document as sent (the re-import skip path)
    Column("digest", String(32)),
    # migration 0008: the account and region (Security Hub partition) the finding lives in
    Column("hub_account", Str(16), nullable=False),
    Column("hub_region", Str(32), nullable=False),
    UniqueConstraint("id", "product_arn", "hub_account", "hub_region", name="uq_findings_key"),
    *(Index(f"ix_findings_{col}", col, "pk") for col in SORT_INDEXED if col not in COVERED),
    # migration 0012_query_idx: the two default sort keys' indexes also carry the hot filter
    # columns and the partition, so a GetFindings page scanning one in order checks its
    # candidates in the index and reads a table row only for a page row (see COVERED)
    *(Index(f"ix_findings_{col}_cover", col, "pk", *COVERED[col]) for col in COVERED),
    # migration 0005, PostgreSQL only: the hot filter and sort columns beside pk, so a
    # GetFindings page driven from a side table checks its candidates and sorts them with
    # index-only scans and reads the wide row (doc) of the page's rows alone (pages.py).
    # SQLite never uses it for a rowid lookup, so it is not built there.
    pg_options(Index("ix_findings_narrow", "pk"), include=[*NARROW, *PARTITION]).ddl_if(
        dialect="postgresql"),
)

# migration 0006, PostgreSQL only: GIN (jsonb_path_ops) on the document, which answers the
# `doc::jsonb @> ...` containment `hub.query_json` adds to every EQUALS on a document key.
pg_options(Index("ix_findings_doc_gin", cast(findings.c.doc, _Jsonb()).label("doc_jsonb")),
           using="gin", ops={"doc_jsonb": "jsonb_path_ops"}).ddl_if(dialect="postgresql")

finding_types = Table(
    "finding_types", metadata,
    Column("finding_pk", BigInteger, nullable=False),
    Column("type", Str(256), nullable=False),
    PrimaryKeyConstraint("finding_pk", "type", name="pk_finding_types"),
    pg_options(Index("ix_finding_types_type", "type"), **PK_INCLUDED),
    sqlite_with_rowid=False,
)

finding_resources = Table(
    "finding_resources", metadata,
    Column("finding_pk", BigInteger, nullable=False),
    Column("idx", SmallInteger, nullable=False),
    Column("type", Str(256), nullable=False),
    Column("id", Str(512), nullable=False),
    Column("partition", Str(16)),
    Column("region", Str(32)),
    PrimaryKeyConstraint("finding_pk", "idx", name="pk_finding_resources"),
    pg_options(Index("ix_finding_resources_type", "type"), **PK_INCLUDED),
    pg_options(Index("ix_finding_resources_id", "id"), **PK_INCLUDED),
    sqlite_with_rowid=False,
)

finding_map = Table(
    "finding_map", metadata,
    Column("finding_pk", BigInteger, nullable=False),
    Column("kind", Str(1), nullable=False),      # P ProductFields, U UserDefinedFields, T tags
    Column("key", Str(128), nullable=False),
    Column("v", Str(MAP_VALUE_INDEXED), nullable=False),
    Column("full", Text),
    PrimaryKeyConstraint("finding_pk", "kind", "key", "v", name="pk_finding_map"),
    pg_options(Index("ix_finding_map_kv", "kind", "key", "v"), **PK_INCLUDED),
    sqlite_with_rowid=False,
)

finding_events = Table(
    "finding_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("finding_pk", BigInteger, nullable=False),
    Column("at", Str(32), nullable=False),
    Column("kind", Str(16), nullable=False),     # update | auto | fixed | reopened
    Column("actor", Str(512), nullable=False),
    Column("run_id", Str(128)),
    Column("changes", Text, nullable=False),
    Index("ix_finding_events_finding", "finding_pk", "seq"),
)

runs = Table(
    "runs", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Str(128), nullable=False, unique=True),
    Column("repo", Str(512), nullable=False),
    Column("branch", Str(256), nullable=False),
    Column("commit", Str(64), nullable=False),
    Column("started_at", Str(40), nullable=False),
    Column("finished_at", Str(40), nullable=False),
    Column("status", Str(16), nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("summary", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("base_branch", Str(256)),
    Column("baseline_run_id", Str(128)),
    Column("recorded_at", Str(32), nullable=False),
    # migration 0003: who wrote the run, as judged when it was written (trusted baselines)
    Column("principal", Str(160), nullable=False, server_default="legacy"),
    Column("writer_role", Str(16), nullable=False, server_default="legacy"),
    Column("writer_scope", Text, nullable=False, server_default="{}"),
    Index("ix_runs_repo_branch", "repo", "branch", "seq"),
)

run_findings = Table(
    "run_findings", metadata,
    Column("run_seq", Integer, nullable=False),
    Column("finding_pk", BigInteger, nullable=False),
    Column("stage", Str(128), nullable=False),
    Column("tool", Str(128), nullable=False),
    Column("change", Str(10), nullable=False),   # new | recurring | fixed
    PrimaryKeyConstraint("run_seq", "finding_pk", name="pk_run_findings"),
    Index("ix_run_findings_finding", "finding_pk"),
    sqlite_with_rowid=False,
)

run_images = Table(      # migration 0002: what a run built or deployed (runtime correlation)
    "run_images", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Str(128), nullable=False),
    Column("repository", Str(512), nullable=False),
    Column("tag", Str(128), nullable=False),
    Column("digest", Str(128), nullable=False),
    Column("stage", Str(128), nullable=False),
    Column("role", Str(16), nullable=False),            # built | deployed
    Column("recorded_at", Str(32), nullable=False),
    UniqueConstraint("run_id", "repository", "tag", "digest", "role", name="uq_run_images"),
    Index("ix_run_images_digest", "digest"),
    Index("ix_run_images_repo_tag", "repository", "tag"),
)

insights = Table(
    "insights", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("arn", Str(256), nullable=False, unique=True),
    Column("name", Str(128), nullable=False),
    Column("filters", Text, nullable=False),
    Column("group_by", Str(128), nullable=False),
    Column("created_at", Str(32), nullable=False),
    # migration 0008: the account and region the insight belongs to
    Column("hub_account", Str(16), nullable=False),
    Column("hub_region", Str(32), nullable=False),
    Index("ix_insights_partition", "hub_account", "hub_region", "seq"),
)

hub = Table(
    "hub", metadata,
    Column("hub_arn", Str(256), primary_key=True),
    Column("subscribed_at", Str(32), nullable=False),
    Column("auto_enable_controls", Boolean, nullable=False),
    Column("tags", Text, nullable=False),
)

access_keys = Table(
    "access_keys", metadata,
    Column("akid", Str(32), primary_key=True),
    Column("secret", Str(64), nullable=False),
    Column("label", Str(256), nullable=False),
    Column("created_at", Str(32), nullable=False),
    Column("disabled", Boolean, nullable=False),
    # migration 0003: role and scope; the secret AES-GCM-encrypted with the per-hub key
    # (`secret` stays "" for such keys, and holds a pre-0003 key until the store re-encrypts it)
    Column("role", Str(16), nullable=False, server_default="admin"),
    Column("scope", Text, nullable=False, server_default="{}"),
    Column("secret_enc", Text),
)

users = Table(
    "users", metadata,
    Column("name", Str(128), primary_key=True),
    Column("pw_hash", Str(256), nullable=False),
    Column("updated_at", Str(32), nullable=False),
    # migration 0003: the user's role, and a counter bumped whenever their sessions must end
    Column("role", Str(16), nullable=False, server_default="triage"),
    Column("generation", Integer, nullable=False, server_default="0"),
)

audit_log = Table(       # migration 0003: every state-changing call, append-only
    "audit_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", Str(32), nullable=False),
    Column("principal", Str(160), nullable=False),
    Column("role", Str(16), nullable=False),
    Column("source", Str(64), nullable=False),
    Column("action", Str(64), nullable=False),
    Column("targets", Text, nullable=False),      # JSON list of Ids / names
    Column("before", Str(64), nullable=False),    # sha256 hex of the targets before ("" = none)
    Column("after", Str(64), nullable=False),
    Column("detail", Text, nullable=False),       # JSON object
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_principal", "principal", "seq"),
)

hub_settings = Table(   # migration 0008: the hub's own configuration that must survive restarts
    "hub_settings", metadata,
    Column("key", Str(64), primary_key=True),            # account_id, enabled-on-first-start:ACCOUNT:REGION
    Column("value", Text, nullable=False),
)

falco_dead_letters = Table(   # migration 0004: Falco alerts the intake refused or could not store
    "falco_dead_letters", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("received_at", Str(32), nullable=False),
    Column("stage", Str(16), nullable=False),            # request | write
    Column("reason", Text, nullable=False),
    Column("rule", Str(256), nullable=False),
    Column("alert_time", Str(64), nullable=False),       # as the alert gave it
    Column("count", Integer, nullable=False),            # alerts this row stands for
    Column("alert", Text, nullable=False),               # the alert's JSON (newest of an episode)
)

product_subscriptions = Table(   # migration 0007_products: EnableImportFindingsForProduct & co.
    "product_subscriptions", metadata,
    Column("hub_account", Str(12), nullable=False),
    Column("hub_region", Str(32), nullable=False),
    Column("product", Str(256), nullable=False),         # company/product of the ProductArn
    Column("product_arn", Str(256), nullable=False),     # as enabled
    Column("enabled", Boolean, nullable=False),          # False: a default product turned off
    Column("updated_at", Str(32), nullable=False),
    PrimaryKeyConstraint("hub_account", "hub_region", "product",
                         name="pk_product_subscriptions"),
)

automation_rules = Table(     # migration 0009_rules: Security Hub's automation rules
    "automation_rules", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("arn", Str(256), nullable=False, unique=True),
    Column("hub_account", Str(16), nullable=False),
    Column("hub_region", Str(32), nullable=False),
    Column("rule_order", Integer, nullable=False),
    Column("name", Str(256), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", Str(16), nullable=False),           # ENABLED | DISABLED
    Column("is_terminal", Boolean, nullable=False),
    Column("criteria", Text, nullable=False),            # AutomationRulesFindingFilters JSON
    Column("actions", Text, nullable=False),             # [AutomationRulesAction] JSON
    Column("tags", Text, nullable=False),
    Column("created_at", Str(32), nullable=False),
    Column("updated_at", Str(32), nullable=False),
    Column("created_by", Str(160), nullable=False),
    Column("creator_role", Str(16), nullable=False),     # the writer's role (the gate's trust)
    Index("ix_automation_rules_partition", "hub_account", "hub_region", "rule_order"),
)

action_targets = Table(   # migration 0010_family: custom actions (CreateActionTarget), per partition
    "action_targets", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("arn", Str(256), nullable=False, unique=True),
    Column("hub_account", Str(16), nullable=False),
    Column("hub_region", Str(32), nullable=False),
    Column("target_id", Str(20), nullable=False),
    Column("name", Str(20), nullable=False),
    Column("description", Str(256), nullable=False),
    Column("created_at", Str(32), nullable=False),
    Index("ix_action_targets_partition", "hub_account", "hub_region", "seq"),
)

resource_tags = Table(    # migration 0010_family: TagResource's tags, keyed by resource ARN
    "resource_tags", metadata,
    Column("arn", Str(256), nullable=False),
    Column("key", Str(128), nullable=False),
    Column("value", Str(256), nullable=False),
    PrimaryKeyConstraint("arn", "key", name="pk_resource_tags"),
)
