"""OGC API – Features (Parts 1–4) and Tiles: a second face of the area services (reads in SQL, writes
through the services), configured by the collection registry in ``gis_api.ogc.collections``."""
