"""Root reads: one plain function per root query field, `(database, scope, typed arguments) -> rows`.

schema/query.py decodes a field's arguments (global ids, filter inputs), resolves the caller's scope and calls one
function here; what comes back is rows and page state, which schema/ converts with `from_row`. Every statement
carries the caller's row filter (auth.row_filters), so these functions can be called, and tested, without GraphQL.
"""
