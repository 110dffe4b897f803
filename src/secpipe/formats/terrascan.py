"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("terrascan parser not written yet")


FORMAT = ReportFormat(name="terrascan", title="terrascan", parse=parse, sniff=None)
