'use strict';
// AWS settings for uploading build artifacts/reports to S3.
// DELIBERATE DEMO FLAW: hardcoded credentials that secpipe's secrets stage must catch.
// These keys are FAKE (randomly generated, never issued by AWS) and exist only for the demo.
const aws_access_key_id = "AKIA56FG63YKWF32DALO";
const aws_secret_access_key = "DFnNho62c16uXY71utLubrjLpCreK3evpDvW4J2K";

module.exports = {
  region: process.env.AWS_REGION || 'us-east-1',
  bucket: process.env.REPORTS_BUCKET || 'web-reports',
  accessKeyId: aws_access_key_id,
  secretAccessKey: aws_secret_access_key,
};
