"""HTTP routes of coverage: population coverage, 2SFCA, site suggestion, the plan's rules, presets, and the
imported demand layers and road networks they use."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from gis_api import auth, labels
from gis_api.coverage import export, layers, network, rules, service
from gis_api.coverage.config import PlanningSettings, presets
from gis_api.coverage.schemas import CoverageQuery, CoverageRequest, DemandLayerIn, LineNetworkIn, SuggestRequest
from gis_api.deps import AnalysisAccess, AsOf, CurrentUser, ReadAccess, SessionDep, SettingsDep
from gis_api.divisions.routes import _bbox
from gis_api.openapi_doc import CSV, GEOJSON, HTML, media
from gis_api.security_headers import document_csp

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage"])
PLANNERS = (auth.Role.planner,)
# Coverage and 2SFCA stay open to readers (the public map uses them) but are bounded per request class:
# without a planner/admin login they get DIMING_LIMIT_ANONYMOUS_ANALYSIS_TIMEOUT_S and a few concurrent slots
# (429 beyond); site suggestion needs a planner (docs/security.md, "Bounded input").


def _out(body: Any, fmt: str, filename: str) -> Response:
    media = export.MEDIA[fmt]
    if fmt in ("json", "geojson"):
        return JSONResponse(body, media_type=media)
    disposition = "inline" if fmt == "html" else "attachment"
    headers = {"Content-Disposition": f"{disposition}; filename={filename}"}
    if fmt == "html":  # the report's own inline scripts only, sandboxed (gis_api/security_headers.py)
        headers["Content-Security-Policy"] = document_csp(body)
    return Response(body, media_type=media, headers=headers)


def _lang(accept_language: str | None) -> labels.Lang | None:
    """The reader's language for a CSV, as the layer exports do: none without the header (a program's request)."""
    return labels.language(accept_language) if accept_language and accept_language.strip() else None


@router.post("", summary="Population covered by facilities of a kind within a radius or network distance",
             responses=media(GEOJSON, CSV, HTML))
def coverage(
    body: CoverageRequest, session: SessionDep, _user: AnalysisAccess,
    format: Annotated[Literal["json", "geojson", "csv", "html"], Query()] = "json",
    accept_language: Annotated[str | None, Header(
        description="CSV: with this header, headings and yes/no cells in its language (Chinese unless English is "
                    "preferred); without it, column names and true/false")] = None,
) -> Response:
    settings = PlanningSettings()
    result = service.coverage(session, body, settings)
    if format == "geojson":
        fc = export.coverage_geojson(session, result)
        distance = result["query"]["distance"]
        if distance["mode"] == "network":  # which facilities reach the network at all
            fc = network.add_snaps(session, fc, float(distance["max_snap_m"]))
        return _out(fc, format, "coverage.geojson")
    if format == "csv":
        csv = export.coverage_csv(session, export.as_of_of(result), lang=_lang(accept_language))
        return _out(csv, format, "coverage.csv")
    if format == "html":
        title = f"{result['query']['facility_kind_name']} 覆盖分析 coverage report"
        page = export.html_report(session, result, export.as_of_of(result), settings.county, title)
        return _out(page, format, "coverage.html")
    return JSONResponse(result)


@router.post("/accessibility", summary="2SFCA accessibility score per village", responses=media(GEOJSON, CSV, HTML))
def accessibility(
    body: CoverageQuery, session: SessionDep, _user: AnalysisAccess,
    format: Annotated[Literal["json", "geojson", "csv", "html"], Query()] = "json",
    accept_language: Annotated[str | None, Header(
        description="CSV: with this header, headings and yes/no cells in its language (Chinese unless English is "
                    "preferred); without it, column names and true/false")] = None,
) -> Response:
    settings = PlanningSettings()
    result = service.accessibility(session, body, settings)
    scores = {v["code"]: float(v["score"]) for v in result["villages"]}
    if format == "geojson":
        return _out(_accessibility_geojson(session, result), format, "accessibility.geojson")
    if format == "csv":
        csv = export.coverage_csv(session, export.as_of_of(result), scores, _lang(accept_language))
        return _out(csv, format, "accessibility.csv")
    if format == "html":
        page = export.summary_report(session, result, settings.county, "2SFCA 可达性 accessibility", scores=scores)
        return _out(page, format, "accessibility.html")
    return JSONResponse(result)


def _accessibility_geojson(session: Session, result: dict[str, Any]) -> dict[str, Any]:
    """The coverage features of the same computation (demand points and facilities, from its transaction-local
    tables) with each village's 2SFCA score and each facility's supply ratio, for drawing on the map."""
    fc = export.coverage_geojson(session, {"query": result["query"]})
    villages = {v["code"]: v for v in result["villages"]}
    ratios = {f["facility_id"]: f for f in result["facilities"]}
    for f in fc["features"]:
        p = f["properties"]
        if p["layer"] == "demand" and p["code"] in villages:
            v = villages[p["code"]]
            p.update(score=v["score"], score_per_1000=v["score_per_1000"], facilities_in_reach=v["facilities_in_reach"])
        elif p["layer"] == "facility" and p["facility_id"] in ratios:
            p.update(ratio=ratios[p["facility_id"]]["ratio"],
                     population_in_reach=ratios[p["facility_id"]]["population_in_reach"])
    fc["properties"] = {k: v for k, v in result.items() if k not in ("villages", "facilities")}
    return fc


@router.post("/suggest", summary="Suggest new sites: MCLP (k sites) or LSCP (fewest sites for a share); planner",
             responses=media(GEOJSON, CSV, HTML))
def suggest(
    body: SuggestRequest, session: SessionDep, user: AnalysisAccess,
    format: Annotated[Literal["json", "geojson", "html"], Query()] = "json",
) -> Response:
    auth.require(user, *PLANNERS)
    settings = PlanningSettings()
    result = service.suggest(session, body, settings)
    if format == "geojson":
        return _out(export.sites_geojson(result), format, "sites.geojson")
    if format == "html":
        page = export.summary_report(session, result, settings.county, "选址建议 site suggestion",
                                     sites=result["sites"])
        return _out(page, format, "sites.html")
    return JSONResponse(result)


@router.get("/rules", summary="The plan's township rules as checks (§6)")
def plan_rules(session: SessionDep, _user: ReadAccess, as_of: AsOf) -> dict[str, Any]:
    return rules.check(session, as_of)


@router.get("/presets", summary="Life-circle radii (GB 50180-2018) and the rural setting")
def life_circles(_user: ReadAccess) -> dict[str, Any]:
    return presets()


@router.get("/networks", summary="Imported road networks")
def list_networks(session: SessionDep, _user: ReadAccess) -> list[dict[str, Any]]:
    return network.networks(session)


@router.get("/networks/{name}/edges", summary="Edges of a road network as GeoJSON (bbox, bounded size)",
            responses=media(GEOJSON))
def network_edges(
    name: Annotated[str, Path(max_length=200, description="network name or id")],
    session: SessionDep, settings: SettingsDep, _user: ReadAccess,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    limit: Annotated[int, Query(ge=1, description="at most this many edges (capped by the server's max_limit)")]
    = 5000,
    simplify_m: Annotated[float, Query(ge=0, le=1000, description="simplification tolerance in metres")] = 0,
) -> Response:
    fc = network.edges_geojson(session, name, _bbox(bbox), min(limit, settings.server.max_limit), simplify_m)
    return JSONResponse(fc, media_type=GEOJSON)


@router.post("/networks", status_code=201, summary="Import a road network from a line layer (planner)")
def import_network(body: LineNetworkIn, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    auth.require(user, *PLANNERS)
    return network.import_lines(session, body.lines, body.name, user.username, body.source, body.cost_property,
                                body.oneway_property, body.replace)


@router.get("/demand-layers", summary="Imported demand layers")
def list_demand_layers(session: SessionDep, _user: ReadAccess) -> list[dict[str, Any]]:
    return layers.layers(session)


@router.post("/demand-layers", status_code=201, summary="Import a point or polygon layer with a weight (planner)")
def import_demand_layer(body: DemandLayerIn, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    auth.require(user, *PLANNERS)
    return layers.import_layer(session, body.name, body.features, body.weight_property, user.username, body.source,
                               body.code_property, body.name_property, body.weight_label, body.replace)


@router.delete("/demand-layers/{name}", status_code=204, summary="Delete a demand layer (planner)")
def delete_demand_layer(name: str, session: SessionDep, user: CurrentUser) -> None:
    auth.require(user, *PLANNERS)
    layers.delete_layer(session, name)
