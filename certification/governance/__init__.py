"""Who may do what and how it is checked: the responsibility matrix, findings and waivers of independent review,
signed certificates and their verification, change control over the MLflow registry, and spec discovery."""
