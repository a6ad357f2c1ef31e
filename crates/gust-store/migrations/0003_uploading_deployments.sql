-- Deployments whose chunked upload is still in progress, for the sweep of abandoned uploads.
CREATE INDEX deployments_uploading ON deployments (status) WHERE status = 'uploading';
