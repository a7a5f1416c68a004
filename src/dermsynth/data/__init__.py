"""The datasets as distributed (their files: `layout`) -> what every later rule reads: one
pairs table per dataset (`ingest`), resized copies of its images (`preprocess`, written by
`png`), the split tables (`splits`) and their summary (`summary`); and the embedded demo
datasets (`demo`)."""
