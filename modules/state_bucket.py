"""``StateBucket``: the S3 bucket that holds an environment's Terraform state.

Versioned (a bad apply can be rolled back to the previous state), encrypted at
rest, all public access blocked, bucket-owner-enforced object ownership, and a
bucket policy that denies any request not made over TLS. Old state versions
expire after ``noncurrent_days`` (default 90); unfinished multipart uploads are
aborted after ``ABORT_INCOMPLETE_UPLOAD_DAYS``.

checkov findings that do not apply to a state bucket are suppressed inline
(``modules.checkov.suppress``), each with its reason.
"""

from __future__ import annotations

from constructs import Construct

from modules.aws import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
    S3Bucket,
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
    S3BucketPolicy,
    S3BucketPublicAccessBlock,
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from modules.checkov import suppress

ABORT_INCOMPLETE_UPLOAD_DAYS = 7
"""Days after which an unfinished multipart upload is aborted (its parts cost storage)."""


class StateBucket(Construct):
    """A hardened, versioned S3 bucket named ``bucket_name`` for Terraform state."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bucket_name: str, noncurrent_days: int = 90
    ) -> None:
        super().__init__(scope, construct_id)
        if noncurrent_days < 1:
            raise ValueError(f"noncurrent_days = {noncurrent_days}: must be at least 1")
        self.bucket = S3Bucket(self, "bucket", bucket=bucket_name)
        self._suppress_bucket_findings()
        S3BucketVersioningA(
            self,
            "versioning",
            bucket=self.bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=self.bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="aws:kms"
                    ),
                    bucket_key_enabled=True,
                )
            ],
        )
        S3BucketPublicAccessBlock(
            self,
            "public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=self.bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=self.bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-old-state-versions",
                    status="Enabled",
                    filter=[{}],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=noncurrent_days
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=ABORT_INCOMPLETE_UPLOAD_DAYS
                        )
                    ],
                )
            ],
        )
        tls_only = DataAwsIamPolicyDocument(
            self,
            "tls-only",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="DenyInsecureTransport",
                    effect="Deny",
                    actions=["s3:*"],
                    resources=[self.bucket.arn, f"{self.bucket.arn}/*"],
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(type="*", identifiers=["*"])
                    ],
                    condition=[
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="Bool", variable="aws:SecureTransport", values=["false"]
                        )
                    ],
                )
            ],
        )
        S3BucketPolicy(self, "policy", bucket=self.bucket.id, policy=tls_only.json)

    def _suppress_bucket_findings(self) -> None:
        """checkov findings that do not apply to a Terraform state bucket, with reasons."""
        suppress(
            self.bucket,
            "CKV_AWS_18",
            "Server access logs would need a second, unlogged bucket; who read or wrote the "
            "state is recorded by CloudTrail S3 data events on this bucket (DEPLOYING.md), "
            "which also name the IAM principal.",
        )
        suppress(
            self.bucket,
            "CKV_AWS_144",
            "State is versioned and can be rebuilt with terraform import; replicating one "
            "small object to a second region would need a second bucket, role and key for "
            "no recovery objective we have.",
        )
        suppress(
            self.bucket,
            "CKV2_AWS_62",
            "Nothing consumes state-change events; Terraform's own lock file and CloudTrail "
            "cover concurrent writers and auditing.",
        )
