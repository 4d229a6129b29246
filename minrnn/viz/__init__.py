"""The neuron page: what it shows, computed in NumPy (analysis.py), assembled into one
self-contained HTML file from its template (page.py; page.html, page.css, page.js, and model.js,
the model's forward pass in JavaScript, shipped as package data)."""
