"""The loan officer's dashboard: a Streamlit app that talks to the API only."""
