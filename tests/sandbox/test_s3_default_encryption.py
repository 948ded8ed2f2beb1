"""S3 encrypts every bucket with SSE-S3 unless it is told otherwise (since January 5, 2023).

AWS documents: "GetBucketEncryption", Amazon S3 API Reference
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketEncryption.html): "By default, all
buckets have a default encryption configuration that uses server-side encryption with Amazon S3
managed keys (SSE-S3)"; "Using server-side encryption with Amazon S3 managed keys (SSE-S3)", Amazon
S3 User Guide (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingServerSideEncryption.html):
all new object uploads are encrypted; "DeleteBucketEncryption": it resets the default to SSE-S3.
moto answered ServerSideEncryptionConfigurationNotFoundError and stored objects unencrypted.
"""

from __future__ import annotations


def test_a_new_bucket_answers_sse_s3_as_its_default_encryption(aws):
    s3 = aws("s3")
    s3.create_bucket(Bucket="plain-bucket")
    rule = s3.get_bucket_encryption(Bucket="plain-bucket")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert rule["BucketKeyEnabled"] is False


def test_an_object_put_without_sse_headers_is_stored_with_sse_s3(aws):
    s3 = aws("s3")
    s3.create_bucket(Bucket="plain-bucket")
    put = s3.put_object(Bucket="plain-bucket", Key="a.txt", Body=b"x")
    assert put["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket="plain-bucket", Key="a.txt")["ServerSideEncryption"] == "AES256"


def test_a_kms_default_is_kept_and_deleting_it_resets_the_bucket_to_sse_s3(aws):
    s3 = aws("s3")
    s3.create_bucket(Bucket="kms-bucket")
    kms = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/my-key"}
    s3.put_bucket_encryption(
        Bucket="kms-bucket",
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": kms}]},
    )
    rule = s3.get_bucket_encryption(Bucket="kms-bucket")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == kms
    assert s3.put_object(Bucket="kms-bucket", Key="k", Body=b"x")["ServerSideEncryption"] == "aws:kms"
    s3.delete_bucket_encryption(Bucket="kms-bucket")
    rule = s3.get_bucket_encryption(Bucket="kms-bucket")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
