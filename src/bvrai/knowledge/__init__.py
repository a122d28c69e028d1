"""Knowledge bases: documents ingested into chunks and vectors, and hybrid retrieval over them."""
