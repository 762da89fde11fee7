"""The declared schemas every part derives from (the API's requests and answers: ``api``)."""
