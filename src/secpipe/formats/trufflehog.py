"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("trufflehog parser not written yet")


FORMAT = ReportFormat(name="trufflehog", title="trufflehog", parse=parse, sniff=None)
