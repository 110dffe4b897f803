"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("trufflehog3 parser not written yet")


FORMAT = ReportFormat(name="trufflehog3", title="trufflehog3", parse=parse, sniff=None)
