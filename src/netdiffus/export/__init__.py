"""Export: synthetic series -> Parquet, wide CSV, and pcap captures."""

from netdiffus.export.pcap import ExportSummary, export_pcap
from netdiffus.export.tabular import write_csv, write_exported_csv, write_parquet

__all__ = ["export_pcap", "ExportSummary", "write_csv", "write_exported_csv", "write_parquet"]
