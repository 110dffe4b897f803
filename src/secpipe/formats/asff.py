"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("asff parser not written yet")


FORMAT = ReportFormat(name="asff", title="asff", parse=parse, sniff=None)
