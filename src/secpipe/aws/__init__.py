"""secpipe on AWS: the report-normalising Lambda, its deployable zip, and the CodePipeline /
CodeBuild pipeline as a CloudFormation template.

`lambda_handler` is re-exported so `secpipe.aws.lambda_handler` names the handler function
(the Lambda runtime resolves `secpipe.aws.lambda_handler.lambda_handler` through the module).
"""

from __future__ import annotations

from secpipe.aws.lambda_handler import lambda_handler

__all__ = ["lambda_handler"]
