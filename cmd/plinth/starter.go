package main

// starterSpec is what `plinth init` writes: small, commented, and servable as is.
const starterSpec = `# A Plinth spec: the data model, the API contract and the access rules in one file.
# Check it with  plinth check --spec plinth.yaml
# Serve it with  plinth serve --spec plinth.yaml   (then: curl http://127.0.0.1:8080/v1/notes)
# The full reference is docs/spec.md in the Plinth repository.
plinth: 1
name: notes
version: 1                    # the API is served under /v1

auth:
  roles: [admin, member]      # the roles a token may carry; see plinth token --help

resources:
  notes:                      # served at /v1/notes and /v1/notes/{id}
    fields:
      owner:  {type: string, default: auth.sub, immutable: true, max_length: 200}
      title:  {type: string, required: true, max_length: 200}
      body:   {type: string, max_length: 10000}
      pinned: {type: boolean, default: false}
      status:
        type: enum
        values: [draft, published, archived]
        default: draft
        transitions: {draft: [published, archived], published: [archived]}
    indexes:
      - [owner]               # members list their own notes: the index finds them without a full scan
    # Access rules are CEL. Without a rule, only role admin may act.
    access:
      list:   'auth.role == "admin" || record.owner == auth.sub'
      read:   'auth.role == "admin" || record.owner == auth.sub'
      create: 'auth.sub != null && record.owner == auth.sub'
      update: 'record.owner == auth.sub'
      delete: 'auth.role == "admin" || record.owner == auth.sub'
`
