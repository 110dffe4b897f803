"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("tfsec parser not written yet")


FORMAT = ReportFormat(name="tfsec", title="tfsec", parse=parse, sniff=None)
