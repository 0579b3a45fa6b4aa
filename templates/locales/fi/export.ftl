# Suomi: omien tietojen lataus tilisivulta (EU:n tietosuoja-asetuksen 15 ja 20 artikla).

export-title = Omat tietoni
export-intro = Voit ladata kaikki tiedot, jotka tämä palvelu on tallentanut sinusta: tilisi, siihen liitetyt aiemmat tunnukset, kirjautumisesi, asiointipalvelut, joille olet antanut luvan, pääsyavaimesi ja tiliäsi koskevat tapahtumat. Tiedosto on JSON-muodossa. Siinä ei ole salasanoja eikä muita salaisuuksia.
export-download = Lataa tietoni
