"""Every table, imported once so ``Base.metadata`` is complete (alembic and the drift test use it)."""

from sqlalchemy import CheckConstraint
from sqlalchemy.sql.elements import conv

from gis_api.adjustments.models import Adjustment, DivisionLineage, DivisionSeat
from gis_api.audit.models import AuditLog
from gis_api.auth import ApiToken, User
from gis_api.boundaries.models import (
    BoundaryIssue,
    BoundaryLine,
    BoundaryLineVersion,
    BoundaryMarker,
    InspectionFinding,
    JointInspection,
    Patrol,
)
from gis_api.coverage.models import DemandLayer, DemandPoint, RoadEdge, RoadNetwork, RoadVertex
from gis_api.db import Base
from gis_api.divisions.models import Division, DivisionCode
from gis_api.facilities.models import (
    Cemetery,
    CemeteryParcel,
    ConstraintFeature,
    ConstraintLayer,
    Facility,
    FacilityKind,
)
from gis_api.field.models import FieldAttachment, FieldAttachmentLink, FieldChange
from gis_api.limits import COLUMN_LIMITS, constraint_name
from gis_api.naming.models import ApprovalAuthority, Proposal, ProposalDocument, ProposalFile, ProposalStep
from gis_api.places.models import NameFlag, Place, PlaceCategory, PlaceVariant, ProtectionListing

__all__ = [
    "Adjustment",
    "ApiToken",
    "ApprovalAuthority",
    "AuditLog",
    "Base",
    "BoundaryIssue",
    "BoundaryLine",
    "BoundaryLineVersion",
    "BoundaryMarker",
    "Cemetery",
    "CemeteryParcel",
    "ConstraintFeature",
    "ConstraintLayer",
    "DemandLayer",
    "DemandPoint",
    "Division",
    "DivisionCode",
    "DivisionLineage",
    "DivisionSeat",
    "Facility",
    "FacilityKind",
    "FieldAttachment",
    "FieldAttachmentLink",
    "FieldChange",
    "InspectionFinding",
    "JointInspection",
    "NameFlag",
    "Patrol",
    "Place",
    "PlaceCategory",
    "PlaceVariant",
    "Proposal",
    "ProposalDocument",
    "ProposalFile",
    "ProposalStep",
    "ProtectionListing",
    "RoadEdge",
    "RoadNetwork",
    "RoadVertex",
    "User",
]

# Text-length bounds (migration 0008): the same CHECK constraints on the models, from one table.
for _table, _cols in COLUMN_LIMITS.items():
    if _table in Base.metadata.tables:
        for _column, _n in _cols.items():
            Base.metadata.tables[_table].append_constraint(
                CheckConstraint(f"char_length({_column}) <= {_n}", name=conv(constraint_name(_table, _column))))

# Tables that PostgreSQL extensions own; never ours to migrate.
EXTENSION_TABLES = frozenset(
    {"spatial_ref_sys", "topology", "layer", "pointcloud_formats", "us_gaz", "us_lex", "us_rules"}
)


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic filter: compare only our own tables."""
    if type_ == "table" and reflected and compare_to is None:
        return name not in EXTENSION_TABLES and name in Base.metadata.tables
    return True
