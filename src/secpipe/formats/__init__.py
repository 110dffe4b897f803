"""Report formats: bytes in, Findings out. One module per format."""

from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.formats.registry import all_formats, get_format, sniff

__all__ = ["Document", "ReportFormat", "ReportFormatError", "all_formats", "get_format", "sniff"]
