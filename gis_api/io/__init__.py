"""Imports and exports of feature files (GeoJSON, GeoPackage, zipped Shapefile, CSV, XLSX register, GPX in)."""
