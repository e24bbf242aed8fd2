"""Reading the producer's files, and what every layer shares: finding run sets and parsing
``results.json`` into runs (``results``, ``records``), validating every field with a JSON path
per problem (``validation``), the gate's settings and their parsing (``settings``), safe names
for ids, pages and files (``names``), JSON values for the outputs (``jsonvalues``) and the
fingerprints that tell a run counted twice (``duplicates``). The
bottom layer: it imports no other layer of dhstats.
"""
