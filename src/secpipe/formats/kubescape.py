"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("kubescape parser not written yet")


FORMAT = ReportFormat(name="kubescape", title="kubescape", parse=parse, sniff=None)
