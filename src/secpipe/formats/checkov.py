"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("checkov parser not written yet")


FORMAT = ReportFormat(name="checkov", title="checkov", parse=parse, sniff=None)
