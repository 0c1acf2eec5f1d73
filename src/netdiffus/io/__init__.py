"""Input and output: trace readers (CSV, pcap) and the Parquet dataset format."""

from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset

__all__ = ["DatasetMeta", "TraceDataset", "read_dataset", "write_dataset"]
