"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("kics parser not written yet")


FORMAT = ReportFormat(name="kics", title="kics", parse=parse, sniff=None)
