"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("sarif parser not written yet")


FORMAT = ReportFormat(name="sarif", title="sarif", parse=parse, sniff=None)
